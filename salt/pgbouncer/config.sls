{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set auth = cluster.users.pgbouncer_auth %}
include:
  - pgbouncer.package

pgbouncer-config-ini:
  file.managed:
    - name: /etc/pgbouncer/pgbouncer.ini
    - source: salt://pgbouncer/files/pgbouncer.ini.jinja
    - template: jinja
    - user: postgres
    - group: postgres
    - mode: '0640'
    - context:
        pgbouncer: {{ cluster.pgbouncer | json }}
        address: {{ cluster.my.address }}
        auth_user: {{ auth.name }}
        databases: {{ salt['pgsalt.pgbouncer_databases'](cluster) | json }}
    - require:
      - pgsalt: pgbouncer-package-installed

{#- Only the auth user is listed; application users are looked up through auth_query. #}
pgbouncer-config-auth-file:
  file.managed:
    - name: /etc/pgbouncer/userlist.txt
    - user: postgres
    - group: postgres
    - mode: '0600'
    - show_changes: False
    - contents: {{ ('"%s" "%s"' % (auth.name, auth.password)) | json }}
    - require:
      - pgsalt: pgbouncer-package-installed
