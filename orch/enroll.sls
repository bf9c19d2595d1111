{#- orch.enroll: a member's minion started (the reactor runs this on salt/minion/*/start).
    salt-run state.orchestrate orch.enroll pillar='{"minion": "pg3"}' [test=True]
    For a member of a running cluster with heal:enabled on: its modules and certificate,
    then the members its arrival changes (pg_hba, HAProxy, PgBouncer, the repository host)
    one at a time, then its highstate: a rebuilt host replaces its old etcd member and
    comes back as a streaming replica; a new one joins. Anything else: nothing happens. #}
{%- from 'orch/plan.jinja' import plan, refused, cluster_name, tls_certificates with context %}
{%- set minion = pillar.get('minion') %}
{%- set roster = salt['pgsalt_cluster.roster'](plan.db) if cluster_name and not plan.errors and plan.heal.enabled else {} %}
{#- The event of a failed enroll that its Python state did not get to report, for
    whoever watches the repairs (pgsalt/heal/*). #}
{%- macro failed_event(id, cluster, comment) %}
{{ id }}:
  salt.runner:
    - name: event.send
    - tag: {{ 'pgsalt/heal/%s/%s/failed' % (cluster, minion) }}
    - data: {{ {'cluster': cluster, 'minion': minion, 'reason': 'minion start',
                'outcome': 'failed', 'actions': [], 'comment': comment} | json }}
{%- endmacro %}
{%- if cluster_name and plan.errors %}

{{ failed_event('pgsalt-enroll-refused-event', cluster_name,
                'pillar refused: ' ~ plan.errors | join('; ')) }}

{{ refused('pgsalt-enroll-refused', 'enroll', plan.errors) }}
{%- elif not cluster_name or not plan.heal.enabled or not roster.leader %}

pgsalt-enroll-nothing-to-do:
  test.succeed_without_changes:
    - name: {{ ('%s: %s' % (minion, 'a member of no cluster in pillar' if not cluster_name
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

{#- A state file of its own: it renders with the modules the sync brought. #}
pgsalt-enroll-python-modules:
  salt.state:
    - tgt: {{ minion }}
    - sls: pgsalt.python
    - pillar: {{ cluster_pillar | json }}
    - require:
      - salt: pgsalt-enroll-sync
{%- if plan.tls.hosts %}

{{ tls_certificates('pgsalt-enroll-tls-certificate', 'pgsalt-enroll-python-modules',
                  failhard=False) }}
{%- endif %}

pgsalt-enroll-{{ minion }}:
  pgsalt_cluster.enrolled:
    - name: {{ minion }}
    - plan: {{ plan | json }}
    - require:
      - salt: pgsalt-enroll-python-modules
{%- if plan.tls.hosts %}
      - salt: pgsalt-enroll-tls-certificate
{%- endif %}

{#- The steps before the enrolled state fire no event of their own. #}
{{ failed_event('pgsalt-enroll-failed-event', plan.cluster,
                'orch.enroll failed before the highstate; see its job') }}
    - onfail_any:
      - salt: pgsalt-enroll-sync
      - salt: pgsalt-enroll-python-modules
{%- if plan.tls.hosts %}
      - salt: pgsalt-enroll-tls-certificate
{%- endif %}
{%- endif %}
