{#- orch.failover: make a replica the leader when the leader is gone and Patroni does not
    elect one by itself (the cluster is paused, every replica lags beyond
    maximum_lag_on_failover, or nofailover tags).
    salt-run state.orchestrate orch.failover pillar='{"cluster": "NAME", "candidate": "pg2"}'
    Without a candidate, the healthiest running replica. Writes acknowledged by the lost
    leader that no replica received are lost: prefer orch.switchover while a leader runs. #}
{%- from 'orch/plan.jinja' import plan, refused with context %}
{%- if plan.errors %}

{{ refused('pgsalt-failover-refused', 'failover', plan.errors) }}
{%- else %}

pgsalt-failover:
  pgsalt_cluster.failed_over:
    - name: {{ plan.cluster | json }}
    - db: {{ plan.db | json }}
    - balancers: {{ plan.balancer | json }}
    - candidate: {{ pillar.get('candidate') | json }}
    - failhard: True
{%- endif %}
