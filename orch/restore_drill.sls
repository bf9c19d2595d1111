{#- orch.restore_drill: prove the latest backup restores. On the repository host it
    restores the latest backup and the archived WAL into a scratch instance, starts it,
    checks it, reports (job return, and the event pgsalt/backup/drill/CLUSTER) and
    removes it. The cluster itself is not touched.
    salt-run state.orchestrate orch.restore_drill pillar='{"cluster": "NAME"}' #}
{%- from 'orch/plan.jinja' import plan, refused with context %}
{%- set errors = plan.errors or ([] if plan.backup.get('repository') else ['pgsalt:clusters:' ~ plan.cluster ~ ':pgbackrest: the drill runs on a repository host (repository:type tls with a member of role backup)']) %}
{%- if errors %}

{{ refused('pgsalt-restore-drill-refused', 'restore drill', errors) }}
{%- else %}

pgsalt-restore-drill-prepared:
  salt.state:
    - tgt: {{ plan.backup.repository }}
    - sls: pgbackrest.drill
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True

pgsalt-restore-drill:
  salt.function:
    - name: pgsalt_drill.run
    - tgt: {{ plan.backup.repository }}
    - arg: [{{ plan.backup.stanza | json }}]
    - kwarg: {{ plan.backup.drill | json }}
    - failhard: True
    - require:
      - salt: pgsalt-restore-drill-prepared
{%- endif %}
