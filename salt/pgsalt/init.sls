{#- Every member gets the same states; each component applies to the roles it serves.
    A minion that is in no cluster gets nothing. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set roles = cluster.get('my', {}).get('roles', []) %}
include:
{%- if roles %}
  - pgsalt.python
{%- endif %}
{%- if 'dcs' in roles %}
  - etcd
{%- endif %}
{%- if 'db' in roles %}
  - postgresql
  - patroni
  - postgresql.objects
{%- endif %}
{%- if 'balancer' in roles %}
  - haproxy
  - pgbouncer
{%- endif %}
