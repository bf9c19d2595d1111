{#- The stanza (created, or upgraded after a major version change), a passing archive
    check, and a first full backup when the stanza has none. It runs where backups run:
    the repository host, or with a posix repository the current primary. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set posix = cluster.pgbackrest.repository.type == 'posix' %}
include:
  - pgbackrest.config

pgbackrest-stanza-present:
  pgsalt_backrest.stanza_present:
    - name: {{ cluster.scope }}
    - pg_version: {{ cluster.postgresql.version }}
    - runas: postgres
    - check_timeout: 120
    - primary_only: {{ posix }}
    - require:
      - file: pgbackrest-config-file

pgbackrest-stanza-first-full-backup:
  pgsalt_backrest.backup_present:
    - name: {{ cluster.scope }}
    - type: full
    - runas: postgres
    - primary_only: {{ posix }}
    - require:
      - pgsalt_backrest: pgbackrest-stanza-present
