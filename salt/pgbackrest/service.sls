{#- pgBackRest's TLS server: on the repository host it takes WAL and restores from the
    db hosts; on the db hosts it lets the repository host read the data for backups. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
include:
  - pgsalt.tls
  - pgbackrest.config
{%- if cluster.pgbackrest.repository.type == 'tls' %}

pgbackrest-service-unit:
  file.managed:
    - name: /etc/systemd/system/pgbackrest.service
    - source: salt://pgbackrest/files/pgbackrest.service
    - require:
      - pkg: pgbackrest-package-installed

pgbackrest-service-running:
  service.running:
    - name: pgbackrest
    - enable: True
    - watch:
      - file: pgbackrest-service-unit
      - file: pgbackrest-config-file
      - file: pgsalt-tls-cert
      - file: pgsalt-tls-ca
{%- endif %}
