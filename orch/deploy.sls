{#- orch.deploy: bare hosts become an HA PostgreSQL cluster, in order, failing fast.
    salt-run state.orchestrate orch.deploy [pillar='{"cluster": "NAME"}'] [test=True] #}
{%- from 'orch/plan.jinja' import plan, refused, tls_certificates with context %}
{%- if plan.errors %}

{{ refused('pgsalt-deploy-pillar-refused', 'pillar', plan.errors) }}
{%- else %}
{%- set members = (plan.members + plan.etcd_auth_hosts) | unique | join(',') %}

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
{%- if plan.tls.hosts %}

{{ tls_certificates('pgsalt-deploy-tls-certificates', 'pgsalt-deploy-sync') }}
{%- endif %}

{%- if plan.etcd_auth_hosts %}

{#- This cluster's Patroni logs in to the etcd of its dcs:cluster: the login is made there,
    by that etcd's own hosts (its admins), before this cluster's Patroni starts. #}
pgsalt-deploy-etcd-login:
  salt.state:
    - tgt: {{ plan.etcd_auth_hosts | join(',') }}
    - tgt_type: list
    - sls: etcd.auth
    - pillar: {cluster: {{ plan.dcs_cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-sync
{%- endif %}

{#- On every host at once, as its roles need: Python libraries, all packages in one apt
    transaction, pgBackRest (archive_command works from the first WAL segment), etcd (its
    members start together), PostgreSQL and Patroni's config. No Patroni runs yet. #}
pgsalt-deploy-prepare:
  salt.state:
    - tgt: {{ plan.prepare | join(',') }}
    - tgt_type: list
    - sls: pgsalt.prepare
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-sync
{%- if plan.tls.hosts %}
      - salt: pgsalt-deploy-tls-certificates
{%- endif %}
{%- if plan.etcd_auth_hosts %}
      - salt: pgsalt-deploy-etcd-login
{%- endif %}
{#- One db host at a time: the first started on a fresh cluster becomes the leader and
    must accept writes; each next one must be streaming before the one after it. #}
{%- set ns = namespace(previous='pgsalt-deploy-prepare') %}
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
{%- if plan.serve %}

{#- HAProxy, then PgBouncer, then the VIP on each balancer (a balancer takes the VIP only
    once its HAProxy and PgBouncer serve); the stanza, a passing archive check and a first
    full backup where backups run; exporters everywhere, Prometheus on the monitor host. #}
pgsalt-deploy-serve:
  salt.state:
    - tgt: {{ plan.serve | join(',') }}
    - tgt_type: list
    - sls: pgsalt.serve
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True
    - require:
      - salt: pgsalt-deploy-sql-objects
{%- endif %}
{%- endif %}
