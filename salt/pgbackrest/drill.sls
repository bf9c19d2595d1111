{#- What orch.restore_drill needs on the repository host: the PostgreSQL server of the
    cluster's version (no cluster of its own) and a config that restores into a scratch
    directory. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
include:
  - postgresql.package
  - pgbackrest.config

pgbackrest-drill-config-file:
  file.managed:
    - name: /etc/pgbackrest/drill.conf
    - source: salt://pgbackrest/files/pgbackrest.conf.jinja
    - template: jinja
    - user: root
    - group: postgres
    - mode: '0640'
    - show_changes: False
    - context:
        sections: {{ salt['pgsalt.pgbackrest_drill_config'](cluster) | json }}
    - require:
      - pkg: pgbackrest-package-installed
      - pkg: postgresql-package-server-installed
