{#- orch.enroll: a member's minion started (the reactor runs this on salt/minion/*/start).
    salt-run state.orchestrate orch.enroll pillar='{"minion": "pg3"}' [test=True]
    For a member of a running cluster with heal:enabled on: its modules and certificate,
    then the members its arrival changes (pg_hba, HAProxy, PgBouncer, the repository host)
    one at a time, then its highstate: a rebuilt host replaces its old etcd member and
    comes back as a streaming replica; a new one joins. Anything else: nothing happens. #}
{%- from 'orch/plan.jinja' import plan, refused, cluster_name with context %}
{%- set minion = pillar.get('minion') %}
{%- set roster = salt['pgsalt_cluster.roster'](plan.db) if cluster_name and not plan.errors and plan.heal.enabled else {} %}
{%- if not cluster_name or plan.errors or not plan.heal.enabled or not roster.leader %}

pgsalt-enroll-nothing-to-do:
  test.succeed_without_changes:
    - name: {{ ('%s: %s' % (minion, 'a member of no cluster in pillar' if not cluster_name
                else 'pillar refused: ' ~ plan.errors | join('; ') if plan.errors
                else 'heal:enabled is off for ' ~ plan.cluster if not plan.heal.enabled
                else 'cluster ' ~ plan.cluster ~ ' has no running leader; orch.deploy builds it'))
               | json }}
{%- else %}
{%- set cluster_pillar = {'cluster': plan.cluster} %}

pgsalt-enroll-sync:
  salt.state:
    - tgt: {{ minion }}
    - sls: pgsalt.sync
    - pillar: {{ cluster_pillar | json }}
    - failhard: True

{#- A state file of its own: it renders with the modules the sync brought. #}
pgsalt-enroll-python-modules:
  salt.state:
    - tgt: {{ minion }}
    - sls: pgsalt.python
    - pillar: {{ cluster_pillar | json }}
    - failhard: True
    - require:
      - salt: pgsalt-enroll-sync
{%- if plan.backup and plan.backup.type == 'tls' %}

pgsalt-enroll-tls-certificate:
  salt.runner:
    - name: pgsalt_ca.issue
    - cluster: {{ plan.cluster | json }}
    - minions: {{ plan.backup.hosts | json }}
    - network: {{ plan.network | json }}
    - days: {{ plan.tls.days }}
    - renew_days: {{ plan.tls.renew_days }}
    - exclude: {{ ([plan.vip] if plan.vip else []) | json }}
    - failhard: True
    - require:
      - salt: pgsalt-enroll-python-modules
{%- endif %}

pgsalt-enroll-{{ minion }}:
  pgsalt_cluster.enrolled:
    - name: {{ minion }}
    - plan: {{ plan | json }}
    - require:
      - salt: pgsalt-enroll-python-modules
{%- endif %}
