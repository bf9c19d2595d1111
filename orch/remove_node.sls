{#- orch.remove_node: take a host out of a running cluster.
    salt-run state.orchestrate orch.remove_node pillar='{"cluster": "NAME", "node": "pg4"}'
    First remove the host from the cluster's members in pillar (so that no later run adds
    it back), then run this. The leader is refused: run orch.switchover first. The host's
    Patroni (and its PostgreSQL), etcd, HAProxy, PgBouncer and Keepalived are stopped and
    disabled, its etcd membership removed, and the remaining hosts' configs rewritten
    without it, one host at a time. Its data directory is left in place. #}
{%- from 'orch/plan.jinja' import plan, refused with context %}
{%- set node = pillar.get('node') %}
{%- set roster = salt['pgsalt_cluster.roster'](plan.db + ([node] if node else [])) if not plan.errors else {} %}
{%- set errors = plan.errors or salt['pgsalt_cluster.removal_errors'](plan, roster, node) %}
{%- if errors %}

{{ refused('pgsalt-remove-node-refused', 'removal', errors) }}
{%- else %}
{%- set cluster_pillar = {'cluster': plan.cluster} %}

pgsalt-remove-node-sync:
  salt.state:
    - tgt: {{ (plan.members + [node]) | join(',') }}
    - tgt_type: list
    - sls: pgsalt.sync
    - test: False
    - pillar: {{ cluster_pillar | json }}
    - failhard: True

{#- Patroni first: the member leaves the cluster cleanly before anything else stops. #}
{%- set ns = namespace(previous='pgsalt-remove-node-sync') %}
{%- set services = ['patroni', 'keepalived', 'pgbouncer', 'haproxy', 'etcd'] %}
{%- if plan.monitor %}
{%- do services.extend(salt['pgsalt_monitoring.exporter_units']()) %}
{%- endif %}
{%- for service in services %}

pgsalt-remove-node-stop-{{ service }}:
  salt.function:
    - name: state.single
    - tgt: {{ node }}
    - arg: [service.dead]
    - kwarg: {name: {{ service }}, enable: False}
    - failhard: True
    - require:
      - salt: {{ ns.previous }}
{%- set ns.previous = 'pgsalt-remove-node-stop-' ~ service %}
{%- endfor %}

pgsalt-remove-node-patroni-member:
  pgsalt_cluster.member_gone:
    - name: {{ node }}
    - db: {{ plan.db | json }}
    - failhard: True
    - require:
      - salt: pgsalt-remove-node-stop-patroni
{%- if plan.dcs %}

pgsalt-remove-node-etcd-member:
  salt.function:
    - name: state.single
    - tgt: {{ plan.dcs[0] }}
    - arg: [pgsalt_etcd.member_absent]
    - kwarg: {name: {{ node }}}
    - failhard: True
    - require:
      - salt: {{ ns.previous }}
{%- set ns.previous = 'pgsalt-remove-node-etcd-member' %}
{%- endif %}
{#- The remaining hosts' configs without the node, one host at a time. #}
{%- set steps = [('patroni-members', plan.db, 'patroni.service')] %}
{%- if plan.balancer %}
{%- do steps.append(('haproxy', plan.balancer, 'haproxy')) %}
{%- do steps.append(('pgbouncer', plan.balancer, 'pgbouncer')) %}
{%- if plan.vip %}{% do steps.append(('keepalived', plan.balancer, 'keepalived')) %}{% endif %}
{%- endif %}
{#- The scrape config without the node. #}
{%- if plan.monitor %}{% do steps.append(('monitoring', plan.monitor, 'monitoring')) %}{% endif %}
{%- for name, targets, sls in steps %}

pgsalt-remove-node-{{ name }}:
  salt.state:
    - tgt: {{ targets | join(',') }}
    - tgt_type: list
    - sls: {{ sls | json }}
    - batch: 1
    - pillar: {{ cluster_pillar | json }}
    - failhard: True
    - require:
      - salt: {{ ns.previous }}
      - pgsalt_cluster: pgsalt-remove-node-patroni-member
{%- set ns.previous = 'pgsalt-remove-node-' ~ name %}
{%- endfor %}
{%- endif %}
