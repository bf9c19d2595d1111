{#- orch.scale_out: add the hosts that pillar lists for a running cluster.
    salt-run state.orchestrate orch.scale_out pillar='{"cluster": "NAME"}' [test=True]
    List the new host under members (roles db, balancer, dcs as wanted), then run this.
    A new db host joins as a replica, restored from the pgBackRest repository when the
    cluster has one (then streaming catches up), else by pg_basebackup from the leader;
    a new dcs host joins etcd as a member; every balancer's HAProxy, PgBouncer and
    Keepalived learn the new hosts, one balancer at a time. Hosts that run already are
    only checked: a re-run changes nothing. #}
{%- from 'orch/plan.jinja' import plan, refused, tls_certificates with context %}
{%- set roster = salt['pgsalt_cluster.roster'](plan.db) if not plan.errors else {} %}
{%- set errors = plan.errors or salt['pgsalt_cluster.scale_out_errors'](plan, roster) %}
{%- if errors %}

{{ refused('pgsalt-scale-out-refused', 'scale-out', errors) }}
{%- else %}
{%- set cluster_pillar = {'cluster': plan.cluster} %}

pgsalt-scale-out-sync:
  salt.state:
    - tgt: {{ plan.members | join(',') }}
    - tgt_type: list
    - sls: pgsalt.sync
    - test: False
    - pillar: {{ cluster_pillar | json }}
    - failhard: True

pgsalt-scale-out-python-modules:
  salt.state:
    - tgt: {{ plan.members | join(',') }}
    - tgt_type: list
    - sls: pgsalt.python
    - pillar: {{ cluster_pillar | json }}
    - failhard: True
    - require:
      - salt: pgsalt-scale-out-sync
{%- set ns = namespace(previous='pgsalt-scale-out-python-modules') %}
{%- if plan.tls.hosts %}

{{ tls_certificates('pgsalt-scale-out-tls-certificates', ns.previous) }}
{%- set ns.previous = 'pgsalt-scale-out-tls-certificates' %}
{%- endif %}
{#- Each step rolls one host at a time (batch 1): a host that fails stops the run. #}
{%- set steps = [] %}
{%- if plan.backup %}{% do steps.append(('pgbackrest', plan.backup.hosts, 'pgbackrest')) %}{% endif %}
{%- if plan.dcs %}{% do steps.append(('etcd', plan.dcs, 'etcd')) %}{% endif %}
{#- The members' pg_hba must let the new hosts replicate before they start. #}
{%- if roster.running %}{% do steps.append(('patroni-members', roster.running, 'patroni.service')) %}{% endif %}
{%- if roster.new %}{% do steps.append(('postgresql', roster.new, ['postgresql', 'patroni.config'])) %}{% endif %}
{%- for member in roster.new %}{% do steps.append(('patroni-' ~ member, [member], 'patroni.service')) %}{% endfor %}
{%- if plan.balancer %}
{%- do steps.append(('haproxy', plan.balancer, 'haproxy')) %}
{%- do steps.append(('pgbouncer', plan.balancer, 'pgbouncer')) %}
{%- if plan.vip %}{% do steps.append(('keepalived', plan.balancer, 'keepalived')) %}{% endif %}
{%- endif %}
{#- Exporters on every member (the new ones get theirs), then the scrape config. #}
{%- if plan.monitor %}{% do steps.append(('monitoring', plan.members, 'monitoring')) %}{% endif %}
{%- for name, targets, sls in steps %}

pgsalt-scale-out-{{ name }}:
  salt.state:
    - tgt: {{ targets | join(',') }}
    - tgt_type: list
    - sls: {{ sls | json }}
    - batch: 1
    - pillar: {{ cluster_pillar | json }}
    - failhard: True
    - require:
      - salt: {{ ns.previous }}
{%- set ns.previous = 'pgsalt-scale-out-' ~ name %}
{%- endfor %}
{%- endif %}
