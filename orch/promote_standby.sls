{#- orch.promote_standby: a standby cluster (pillar standby:cluster) becomes a cluster of
    its own that accepts writes, for disaster recovery or a move.
    salt-run state.orchestrate orch.promote_standby pillar='{"cluster": "NAME"}'
    It removes standby_cluster from Patroni's dynamic configuration (in etcd), waits until
    the standby leader is a primary, then until every db member is ready again. The source
    cluster is not touched: stop writes to it first, or it goes on as a second primary of
    the same data. A re-run changes nothing.
    Afterwards, in pillar: remove standby from the cluster and give it the users, roles and
    databases of its source (same names and passwords: its data is a copy). Until then
    orch.deploy and highstates leave it promoted (Patroni reads bootstrap.dcs only when etcd
    holds no configuration for the scope and the data directory no patroni.dynamic.json)
    and create no objects; pgbackrest can be turned on once standby is gone. #}
{%- from 'orch/plan.jinja' import plan with context %}
{%- set errors = plan.errors or ([] if plan.standby else ['pgsalt:clusters:' ~ plan.cluster ~ ':standby:cluster: not set; this cluster is not a standby, there is nothing to promote']) %}
{%- set leader = None %}
{%- if not errors %}
{#- The standby leader, as Patroni reports it: the member that must become the primary. #}
{%- set answers = salt['saltutil.cmd'](plan.db, 'pgsalt_patroni.leader', tgt_type='list', timeout=15) or {} %}
{%- set leaders = [] %}
{%- for member in plan.db %}
{%- set named = (answers.get(member) or {}).get('ret') %}
{%- if named in plan.db and named not in leaders %}{% do leaders.append(named) %}{% endif %}
{%- endfor %}
{%- set leader = leaders | first if leaders else None %}
{%- if not leader %}{% set errors = ['pgsalt:clusters:' ~ plan.cluster ~ ':members: no db member (' ~ plan.db | join(', ') ~ ') names a leader (pgsalt_patroni.leader); expected Patroni running with a standby leader'] %}{% endif %}
{%- endif %}
{%- if errors %}

pgsalt-promote-standby-refused:
  test.configurable_test_state:
    - result: False
    - changes: False
    - allow_test_mode_failure: True
    - comment: {{ ("promotion refused, no host was touched:\n" ~ errors | join("\n")) | json }}
    - failhard: True
{%- else %}

pgsalt-promote-standby-sync:
  salt.state:
    - tgt: {{ plan.members | join(',') }}
    - tgt_type: list
    - sls: pgsalt.sync
    - test: False
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True

{#- Any member's REST API writes the DCS; a key already absent is no change. #}
pgsalt-promote-standby-config:
  salt.function:
    - name: state.single
    - tgt: {{ leader }}
    - arg: [pgsalt_patroni.dynamic_config]
    - kwarg:
        name: {{ ("promote " ~ plan.cluster ~ ": no standby_cluster") | json }}
        config: {standby_cluster: null}
    - failhard: True
    - require:
      - salt: pgsalt-promote-standby-sync

{#- Patroni promotes on its next loop (loop_wait, 10 s by default). #}
pgsalt-promote-standby-primary:
  salt.function:
    - name: pgsalt_sql.is_primary
    - tgt: {{ leader }}
    - retry: {attempts: 40, interval: 3}
    - failhard: True
    - require:
      - salt: pgsalt-promote-standby-config

{#- The replicas follow the new timeline and stream from the new primary. #}
pgsalt-promote-standby-ready:
  salt.function:
    - name: state.single
    - tgt: {{ plan.db | join(',') }}
    - tgt_type: list
    - arg: [pgsalt_patroni.ready]
    - kwarg: {name: {{ ("promote " ~ plan.cluster ~ ": member ready") | json }}, timeout: 300}
    - failhard: True
    - require:
      - salt: pgsalt-promote-standby-primary
{%- endif %}
