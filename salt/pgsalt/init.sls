{#- Every member gets the same states; each component applies to the roles it serves.
    A minion that is in no cluster gets nothing. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set roles = cluster.get('my', {}).get('roles', []) %}
{%- set sls = ['pgsalt.python', 'pgsalt.packages', 'pgsalt.heal'] if roles else [] %}
{%- if 'dcs' in roles %}{% do sls.append('etcd') %}{% endif %}
{%- set backups = cluster.get('pgbackrest', {}).get('enabled') %}
{%- if backups and ('db' in roles or 'backup' in roles) %}{% do sls.append('pgbackrest') %}{% endif %}
{%- if 'db' in roles %}{% do sls.extend(['postgresql', 'patroni', 'postgresql.objects']) %}{% endif %}
{%- if 'balancer' in roles %}{% do sls.extend(['haproxy', 'pgbouncer']) %}{% endif %}
{%- if 'balancer' in roles and cluster.vip.address %}{% do sls.append('keepalived') %}{% endif %}
{%- if roles and cluster.monitor_members %}{% do sls.append('monitoring') %}{% endif %}
include: {{ sls | json }}
