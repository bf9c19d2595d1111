{#- Patroni's dynamic configuration (in etcd, shared by the members) made to match pillar:
    timing, failover rules and PostgreSQL parameters. Patroni reloads PostgreSQL on every
    member; parameters that need a restart are left pending for orch.config to roll. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set dcs = salt['pgsalt.patroni_config'](cluster).bootstrap.dcs %}
{#- Only bootstrap makes a standby cluster; orch.promote_standby ends it, for good. #}
{%- do dcs.pop('standby_cluster', None) %}

patroni-dynamic-config:
  pgsalt_patroni.dynamic_config:
    - config: {{ dcs | json }}
