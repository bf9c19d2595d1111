{#- orch.deploy's step once the leader holds the SQL objects: routing, pooling, the VIP,
    the backup stanza and monitoring, as this host's roles need them, in one run
    (pgsalt.phase). #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
include: {{ salt['pgsalt.phase'](cluster, 'serve') | json }}
