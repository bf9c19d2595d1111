{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set auth = cluster.users.pgbouncer_auth %}
include:
  - pgbouncer.package
  - pgsalt.tls

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
        tls: {{ salt['pgsalt.service_tls'](cluster) | json }}
    - require:
      - pgsalt: pgbouncer-package-installed
      - file: pgsalt-tls-cert

{#- Application users are looked up through auth_query. postgres (admin) and prometheus
    (stats, for pgbouncer_exporter) are listed without a password so that they log in to the
    console by peer (pg_hba.conf) even while PAUSE holds the database auth_query runs in. #}
pgbouncer-config-auth-file:
  file.managed:
    - name: /etc/pgbouncer/userlist.txt
    - user: postgres
    - group: postgres
    - mode: '0600'
    - show_changes: False
    - contents: {{ ('"%s" "%s"\n"postgres" ""\n"prometheus" ""' % (auth.name, auth.password)) | json }}
    - require:
      - pgsalt: pgbouncer-package-installed

pgbouncer-config-hba-file:
  file.managed:
    - name: /etc/pgbouncer/pg_hba.conf
    - source: salt://pgbouncer/files/pg_hba.conf
    - user: postgres
    - group: postgres
    - mode: '0640'
    - require:
      - pgsalt: pgbouncer-package-installed
