{#- The stanza (created, or upgraded after a major version change), a passing archive
    check, and a first full backup when the stanza has none. It runs where backups run:
    the repository host, or with a posix repository the current primary. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set posix = cluster.pgbackrest.repository.type == 'posix' %}
{%- set primary_only = "test \"$(psql -U postgres -XAtq -p %s -c 'select pg_is_in_recovery()')\" = f" % cluster.postgresql.port %}
include:
  - pgbackrest.config

pgbackrest-stanza-present:
  pgsalt_backrest.stanza_present:
    - name: {{ cluster.scope }}
    - pg_version: {{ cluster.postgresql.version }}
    - runas: postgres
    - check_timeout: 120
{%- if posix %}
    - onlyif: {{ primary_only | json }}
{%- endif %}
    - require:
      - file: pgbackrest-config-file

pgbackrest-stanza-first-full-backup:
  pgsalt_backrest.backup_present:
    - name: {{ cluster.scope }}
    - type: full
    - runas: postgres
{%- if posix %}
    - onlyif: {{ primary_only | json }}
{%- endif %}
    - require:
      - pgsalt_backrest: pgbackrest-stanza-present
