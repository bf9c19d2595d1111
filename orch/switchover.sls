{#- orch.switchover: hand the leader role to another member, on purpose.
    salt-run state.orchestrate orch.switchover pillar='{"cluster": "NAME",
      "candidate": "pg2", "pause_pooler": true}'
    candidate: a healthy replica; without it the healthiest (a synchronous standby, then
    the least lag). pause_pooler: PgBouncer on every balancer holds new queries (PAUSE)
    from before the switch until HAProxy routes writes to the new leader, then resumes:
    clients of port 6432 wait instead of failing. test=True shows the plan. #}
{%- from 'orch/plan.jinja' import plan, refused with context %}
{%- if plan.errors %}

{{ refused('pgsalt-switchover-refused', 'switchover', plan.errors) }}
{%- else %}

pgsalt-switchover-sync:
  salt.state:
    - tgt: {{ plan.members | join(',') }}
    - tgt_type: list
    - sls: pgsalt.sync
    - test: False
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True

pgsalt-switchover:
  pgsalt_cluster.switched_over:
    - name: {{ plan.cluster | json }}
    - db: {{ plan.db | json }}
    - balancers: {{ plan.balancer | json }}
    - candidate: {{ pillar.get('candidate') | json }}
    - pause_pooler: {{ pillar.get('pause_pooler', False) | json }}
    - failhard: True
    - require:
      - salt: pgsalt-switchover-sync
{%- endif %}
