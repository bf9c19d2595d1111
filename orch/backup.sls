{#- orch.backup: take a pgBackRest backup now.
    salt-run state.orchestrate orch.backup pillar='{"cluster": "NAME", "type": "diff"}'
    type: full (default), diff or incr. It runs where the scheduled backups run: the
    repository host, or with a posix repository the current primary. #}
{%- from 'orch/plan.jinja' import plan, refused with context %}
{%- set kind = pillar.get('type', 'full') %}
{%- set errors = plan.errors or ([] if plan.get('backup') else ['pgsalt:clusters:' ~ plan.cluster ~ ':pgbackrest:enabled: backups are off for this cluster']) %}
{%- if kind not in ('full', 'diff', 'incr') %}{% set errors = errors + ['type: ' ~ kind ~ ' is not a backup type (accepted: full, diff, incr)'] %}{% endif %}
{%- if errors %}

{{ refused('pgsalt-backup-refused', 'backup', errors) }}
{%- else %}

pgsalt-backup-{{ kind }}:
  salt.function:
    - name: pgsalt_backup.take
    - tgt: {{ plan.backup.repository or plan.db | join(',') }}
    - tgt_type: list
    - arg: [{{ plan.backup.stanza | json }}, {{ kind }}]
    - failhard: True
{%- endif %}
