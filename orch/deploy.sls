{#- orch.deploy: bare hosts become an HA PostgreSQL cluster, in order, failing fast.
    salt-run state.orchestrate orch.deploy [pillar='{"cluster": "NAME"}'] [test=True] #}
{%- from 'orch/plan.jinja' import plan, refused, tls_certificates with context %}
{%- if plan.errors %}

{{ refused('pgsalt-deploy-pillar-refused', 'pillar', plan.errors) }}
{%- else %}
{%- set members = plan.members | join(',') %}

{#- The formula's own modules reach the minions even in a test=True run: the states need
    them to predict anything. Syncing changes no service or config on the hosts. #}
pgsalt-deploy-sync:
  salt.state:
    - tgt: {{ members }}
    - tgt_type: list
    - sls: pgsalt.sync
    - test: False
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True

pgsalt-deploy-python-modules:
  salt.state:
    - tgt: {{ members }}
    - tgt_type: list
    - sls: pgsalt.python
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-sync
{%- if plan.tls.hosts %}

{{ tls_certificates('pgsalt-deploy-tls-certificates', 'pgsalt-deploy-python-modules') }}
{%- endif %}
{%- if plan.backup %}
{%- set backup_hosts = plan.backup.hosts | join(',') %}

{#- pgBackRest before Patroni starts: archive_command works from the first WAL segment. #}
pgsalt-deploy-pgbackrest:
  salt.state:
    - tgt: {{ backup_hosts }}
    - tgt_type: list
    - sls: pgbackrest
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-python-modules
{%- if plan.tls.hosts %}
      - salt: pgsalt-deploy-tls-certificates
{%- endif %}
{%- endif %}
{%- if plan.dcs %}

pgsalt-deploy-etcd:
  salt.state:
    - tgt: {{ plan.dcs | join(',') }}
    - tgt_type: list
    - sls: etcd
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-python-modules
{%- endif %}

pgsalt-deploy-postgresql:
  salt.state:
    - tgt: {{ plan.db | join(',') }}
    - tgt_type: list
    - sls: [postgresql, patroni.config]
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-python-modules
{%- if plan.tls.hosts %}
      - salt: pgsalt-deploy-tls-certificates
{%- endif %}
{%- if plan.dcs %}
      - salt: pgsalt-deploy-etcd
{%- endif %}
{%- if plan.backup %}
      - salt: pgsalt-deploy-pgbackrest
{%- endif %}
{#- One db host at a time: the first started on a fresh cluster becomes the leader and
    must accept writes; each next one must be streaming before the one after it. #}
{%- set ns = namespace(previous='pgsalt-deploy-postgresql') %}
{%- for member in plan.db %}

pgsalt-deploy-patroni-{{ member }}:
  salt.state:
    - tgt: {{ member }}
    - sls: patroni.service
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: {{ ns.previous }}
{%- set ns.previous = 'pgsalt-deploy-patroni-' ~ member %}
{%- endfor %}

pgsalt-deploy-sql-objects:
  salt.state:
    - tgt: {{ plan.db | join(',') }}
    - tgt_type: list
    - sls: postgresql.objects
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: {{ ns.previous }}
{%- if plan.balancer %}

pgsalt-deploy-haproxy:
  salt.state:
    - tgt: {{ plan.balancer | join(',') }}
    - tgt_type: list
    - sls: haproxy
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-sql-objects

pgsalt-deploy-pgbouncer:
  salt.state:
    - tgt: {{ plan.balancer | join(',') }}
    - tgt_type: list
    - sls: pgbouncer
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-haproxy
{%- if plan.vip %}

{#- The VIP last: a balancer takes it only once its HAProxy and PgBouncer serve. #}
pgsalt-deploy-keepalived:
  salt.state:
    - tgt: {{ plan.balancer | join(',') }}
    - tgt_type: list
    - sls: keepalived
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-pgbouncer
{%- endif %}
{%- endif %}
{%- if plan.backup %}

{#- The stanza, a passing archive check, and a first full backup when there is none. #}
pgsalt-deploy-backup-stanza:
  salt.state:
    - tgt: {{ plan.backup.repository or plan.db | join(',') }}
    - tgt_type: list
    - sls: pgbackrest.stanza
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-sql-objects
{%- endif %}
{%- if plan.monitor %}

{#- Exporters on every member, then Prometheus and Alertmanager on the monitor host. #}
pgsalt-deploy-monitoring:
  salt.state:
    - tgt: {{ plan.members | join(',') }}
    - tgt_type: list
    - sls: monitoring
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-sql-objects
{%- endif %}
{%- endif %}
