{#- systemd timers for full, diff and incr backups. With a repository host they run there
    alone, and pgBackRest finds the primary (or a replica, with backup_standby): a
    leader change never doubles a backup. With a posix repository every db host has the
    timers and only the current primary runs the backup (ExecCondition). #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set pb = cluster.pgbackrest %}
{%- set posix = pb.repository.type == 'posix' %}
{%- set runs_here = 'backup' in cluster.my.roles or (posix and 'db' in cluster.my.roles) %}
include:
  - pgbackrest.config
{%- if runs_here %}

pgbackrest-schedule-backup-unit:
  file.managed:
    - name: /etc/systemd/system/pgsalt-backup@.service
    - source: salt://pgbackrest/files/pgsalt-backup@.service.jinja
    - template: jinja
    - context:
        stanza: {{ cluster.scope }}
        primary_only: {{ posix }}
        port: {{ cluster.postgresql.port }}
    - require:
      - file: pgbackrest-config-file
{%- for kind, calendar in pb.schedule | dictsort %}
{%- if calendar %}

pgbackrest-schedule-{{ kind }}-timer:
  file.managed:
    - name: /etc/systemd/system/pgsalt-backup-{{ kind }}.timer
    - source: salt://pgbackrest/files/pgsalt-backup.timer.jinja
    - template: jinja
    - context:
        kind: {{ kind }}
        calendar: {{ calendar | json }}
    - require:
      - file: pgbackrest-schedule-backup-unit

pgbackrest-schedule-{{ kind }}-timer-active:
  service.running:
    - name: pgsalt-backup-{{ kind }}.timer
    - enable: True
    - watch:
      - file: pgbackrest-schedule-{{ kind }}-timer
{%- else %}

{#- Looked up while rendering, not with onlyif (see pgsalt/tls.sls): only this file
    writes the timer. #}
{%- set timer = '/etc/systemd/system/pgsalt-backup-%s.timer' % kind %}
{%- if salt['file.file_exists'](timer) %}

pgbackrest-schedule-{{ kind }}-timer-stopped:
  service.dead:
    - name: pgsalt-backup-{{ kind }}.timer
    - enable: False
    - require_in:
      - file: pgbackrest-schedule-{{ kind }}-timer
{%- endif %}

pgbackrest-schedule-{{ kind }}-timer:
  file.absent:
    - name: {{ timer }}
{%- endif %}
{%- endfor %}
{%- endif %}
