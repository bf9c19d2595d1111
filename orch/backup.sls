{#- orch.backup: take a pgBackRest backup now.
    salt-run state.orchestrate orch.backup pillar='{"cluster": "NAME", "type": "diff"}'
    type: full (default), diff or incr. It runs where the scheduled backups run: the
    repository host, or with a posix repository the current primary. #}
{%- from 'orch/plan.jinja' import plan with context %}
{%- set kind = pillar.get('type', 'full') %}
{%- set errors = plan.errors or ([] if plan.get('backup') else ['pgsalt:clusters:' ~ plan.cluster ~ ':pgbackrest:enabled: backups are off for this cluster']) %}
{%- if kind not in ('full', 'diff', 'incr') %}{% set errors = errors + ['type: ' ~ kind ~ ' is not a backup type (accepted: full, diff, incr)'] %}{% endif %}
{%- if errors %}

pgsalt-backup-refused:
  test.configurable_test_state:
    - result: False
    - changes: False
    - allow_test_mode_failure: True
    - comment: {{ ("backup refused, no host was touched:\n" ~ errors | join("\n")) | json }}
    - failhard: True
{%- else %}

pgsalt-backup-{{ kind }}:
  salt.function:
    - name: pgsalt_backup.take
    - tgt: {{ plan.backup.repository or plan.db | join(',') }}
    - tgt_type: list
    - arg: [{{ plan.backup.stanza | json }}, {{ kind }}]
    - failhard: True
{%- endif %}
