{#- orch.heal: the smallest safe repair on one member, started by the reactor.
    salt-run state.orchestrate orch.heal pillar='{"minion": "pg2"}' [test=True]
    It waits for any other repair of the cluster (one at a time), diagnoses the host
    (its units, its Patroni member, its etcd member), repairs (start a unit, reinitialise a
    replica whose PostgreSQL cannot run, replace an etcd member that cannot start while the
    others hold quorum, re-apply the states for drift when heal:drift:repair is on), checks
    again and escalates when a repair did not take, and reports as the event
    pgsalt/heal/CLUSTER/MINION/OUTCOME. #}
{%- from 'orch/plan.jinja' import plan, refused, cluster_name with context %}
{%- set minion = pillar.get('minion') %}
{%- if not cluster_name %}

pgsalt-heal-not-a-member:
  test.succeed_without_changes:
    - name: {{ ('%s is a member of no cluster in pillar: nothing to heal' % minion) | json }}
{%- elif plan.errors %}

{{ refused('pgsalt-heal-refused', 'heal', plan.errors) }}
{%- elif not plan.heal.enabled %}

pgsalt-heal-off:
  test.succeed_without_changes:
    - name: {{ ('heal:enabled is off for %s' % plan.cluster) | json }}
{%- else %}

pgsalt-heal-{{ minion }}:
  pgsalt_cluster.healed:
    - name: {{ minion }}
    - plan: {{ plan | json }}
    - reason: {{ pillar.get('reason', 'orch.heal') | json }}
    - drift: {{ pillar.get('drift') | json }}
{%- endif %}
