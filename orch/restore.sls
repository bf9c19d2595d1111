{#- orch.restore: recover a cluster to a point in time from its pgBackRest repository.
    salt-run state.orchestrate orch.restore pillar='{"cluster": "NAME",
      "restore": {"type": "time", "target": "2026-11-26 10:30:00+00", "leader": "pg1"}}'
    type: latest (default), time, lsn, xid, name or immediate. Every member stops; the
    leader's data is set aside (DATA_DIR.pre-restore) and restored; Patroni bootstraps a
    new cluster from it on a new timeline; the point reached is reported; a full backup
    of the new timeline is taken, and the replicas are rebuilt from it (an older backup
    may lie past the point the new timeline branched off). #}
{%- from 'orch/plan.jinja' import plan, refused with context %}
{%- set restore = salt['pgsalt.restore_plan'](plan, pillar.get('restore')) if 'pgsalt.restore_plan' in salt else plan %}
{%- if restore.errors %}

{{ refused('pgsalt-restore-refused', 'restore', restore.errors) }}
{%- else %}
{%- set db = plan.db | join(',') %}
{%- set cluster_pillar = {'cluster': plan.cluster} %}
{%- set request = {'type': restore.type, 'target': restore.target} %}

pgsalt-restore-sync:
  salt.state:
    - tgt: {{ plan.members | join(',') }}
    - tgt_type: list
    - sls: pgsalt.sync
    - test: False
    - pillar: {{ cluster_pillar | json }}
    - failhard: True

pgsalt-restore-stop-patroni:
  salt.function:
    - name: service.stop
    - tgt: {{ db }}
    - tgt_type: list
    - arg: [patroni]
    - failhard: True
    - require:
      - salt: pgsalt-restore-sync

pgsalt-restore-clear-dcs:
  salt.function:
    - name: pgsalt_restore.clear_dcs
    - tgt: {{ restore.leader }}
    - failhard: True
    - require:
      - salt: pgsalt-restore-stop-patroni

pgsalt-restore-set-data-aside:
  salt.function:
    - name: pgsalt_restore.set_aside
    - tgt: {{ db }}
    - tgt_type: list
    - failhard: True
    - require:
      - salt: pgsalt-restore-clear-dcs

{#- Patroni on the leader bootstraps the new cluster by restoring to the target. #}
pgsalt-restore-leader:
  salt.state:
    - tgt: {{ restore.leader }}
    - sls: patroni.service
    - pillar: {{ dict(cluster_pillar, restore=request) | json }}
    - failhard: True
    - require:
      - salt: pgsalt-restore-set-data-aside

pgsalt-restore-point-reached:
  salt.function:
    - name: pgsalt_restore.recovery_point
    - tgt: {{ restore.leader }}
    - arg: [{{ plan.cluster | json }}]
    - failhard: True
    - require:
      - salt: pgsalt-restore-leader

{#- Back to the usual bootstrap section: a later bootstrap must not restore again. #}
pgsalt-restore-leader-config:
  salt.state:
    - tgt: {{ restore.leader }}
    - sls: patroni.service
    - pillar: {{ cluster_pillar | json }}
    - failhard: True
    - require:
      - salt: pgsalt-restore-point-reached

pgsalt-restore-full-backup:
  salt.function:
    - name: pgsalt_backup.take
    - tgt: {{ plan.backup.repository or restore.leader }}
    - arg: [{{ plan.backup.stanza | json }}, full]
    - failhard: True
    - require:
      - salt: pgsalt-restore-leader-config
{%- set ns = namespace(previous='pgsalt-restore-full-backup') %}
{%- for member in restore.replicas %}

pgsalt-restore-replica-{{ member }}:
  salt.state:
    - tgt: {{ member }}
    - sls: patroni.service
    - pillar: {{ cluster_pillar | json }}
    - failhard: True
    - require:
      - salt: {{ ns.previous }}

pgsalt-restore-replica-{{ member }}-old-data-removed:
  salt.function:
    - name: pgsalt_restore.drop_aside
    - tgt: {{ member }}
    - failhard: True
    - require:
      - salt: pgsalt-restore-replica-{{ member }}
{%- set ns.previous = 'pgsalt-restore-replica-' ~ member ~ '-old-data-removed' %}
{%- endfor %}
{%- endif %}
