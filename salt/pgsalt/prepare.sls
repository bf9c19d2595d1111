{#- orch.deploy's step before any Patroni starts: what this host's roles need, in one run
    (pgsalt.phase). #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
include: {{ salt['pgsalt.phase'](cluster, 'prepare') | json }}
