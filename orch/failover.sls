{#- orch.failover: make a replica the leader when the leader is gone and Patroni does not
    elect one by itself (the cluster is paused, every replica lags beyond
    maximum_lag_on_failover, or nofailover tags).
    salt-run state.orchestrate orch.failover pillar='{"cluster": "NAME", "candidate": "pg2"}'
    Without a candidate, the healthiest running replica. Writes acknowledged by the lost
    leader that no replica received are lost: prefer orch.switchover while a leader runs. #}
{%- from 'orch/plan.jinja' import plan with context %}
{%- if plan.errors %}

pgsalt-failover-refused:
  test.configurable_test_state:
    - result: False
    - changes: False
    - allow_test_mode_failure: True
    - comment: {{ ("failover refused, no host was touched:\n" ~ plan.errors | join("\n")) | json }}
    - failhard: True
{%- else %}

pgsalt-failover:
  pgsalt_cluster.failed_over:
    - name: {{ plan.cluster | json }}
    - db: {{ plan.db | json }}
    - balancers: {{ plan.balancer | json }}
    - candidate: {{ pillar.get('candidate') | json }}
    - failhard: True
{%- endif %}
