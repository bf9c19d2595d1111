{#- Roles, databases, extensions and PgBouncer's auth function, made on the leader only
    (the states skip on replicas). Passwords go to the server as SCRAM verifiers. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set auth = cluster.users.pgbouncer_auth %}
include:
  - patroni.service
{%- if cluster.standby.cluster %}

{#- standby cluster: objects come from the source; its data is a read-only copy of the
    source's, and pgsalt_model gave this cluster the source's users, roles and databases. #}
postgresql-objects-standby:
  test.succeed_without_changes:
    - name: {{ ("standby cluster: objects come from the source, pgsalt:clusters:" ~ cluster.standby.cluster) | json }}
    - require:
      - pgsalt_patroni: patroni-service-ready
{%- else %}

postgresql-objects-role-{{ auth.name }}:
  pgsalt_sql.role_present:
    - name: {{ auth.name }}
    - password: {{ auth.password | json }}
    - login: True
    - require:
      - pgsalt_patroni: patroni-service-ready
{%- if cluster.monitor_members %}

{#- postgres_exporter's role: pg_monitor's reads, no password (peer over the socket). #}
postgresql-objects-role-prometheus:
  pgsalt_sql.role_present:
    - name: prometheus
    - login: True
    - connection_limit: 5
    - require:
      - pgsalt_patroni: patroni-service-ready

postgresql-objects-role-prometheus-pg-monitor:
  pgsalt_sql.role_member:
    - name: prometheus
    - group: pg_monitor
    - require:
      - pgsalt_sql: postgresql-objects-role-prometheus
{%- endif %}
{%- for name, role in cluster.roles | dictsort %}

postgresql-objects-role-{{ name }}:
  pgsalt_sql.role_present:
    - name: {{ name }}
    {%- for key, value in role | dictsort %}
    - {{ key }}: {{ value | json }}
    {%- endfor %}
    - require:
      - pgsalt_patroni: patroni-service-ready
{%- endfor %}
{%- for name, db in cluster.databases | dictsort %}

postgresql-objects-database-{{ name }}:
  pgsalt_sql.database_present:
    - name: {{ name }}
    - owner: {{ db.get('owner', cluster.users.superuser.name) }}
    - encoding: {{ db.get('encoding', 'UTF8') }}
    - require:
      - pgsalt_patroni: patroni-service-ready
      {%- if db.get('owner') in cluster.roles %}
      - pgsalt_sql: postgresql-objects-role-{{ db.owner }}
      {%- endif %}
{%- for ext in db.get('extensions', []) %}

postgresql-objects-extension-{{ name }}-{{ ext }}:
  pgsalt_sql.extension_present:
    - name: {{ ext }}
    - dbname: {{ name }}
    - require:
      - pgsalt_sql: postgresql-objects-database-{{ name }}
{%- endfor %}
{%- endfor %}
{%- for dbname in salt['pgsalt.auth_databases'](cluster) %}

postgresql-objects-pgbouncer-auth-{{ dbname }}:
  pgsalt_sql.auth_function_present:
    - name: pgbouncer.get_auth
    - auth_user: {{ auth.name }}
    - dbname: {{ dbname }}
    - require:
      - pgsalt_sql: postgresql-objects-role-{{ auth.name }}
      {%- if dbname != 'postgres' %}
      - pgsalt_sql: postgresql-objects-database-{{ dbname }}
      {%- endif %}
{%- endfor %}
{%- endif %}
