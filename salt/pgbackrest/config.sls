{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set pb = cluster.pgbackrest %}
{%- set holds_repository = 'backup' in cluster.my.roles or pb.repository.type == 'posix' %}
include:
  - pgbackrest.package

{#- The repository host's file carries the cipher passphrase: never shown in diffs. #}
pgbackrest-config-file:
  file.managed:
    - name: /etc/pgbackrest/pgbackrest.conf
    - source: salt://pgbackrest/files/pgbackrest.conf.jinja
    - template: jinja
    - makedirs: True
    - user: root
    - group: postgres
    - mode: '0640'
    - show_changes: False
    - context:
        sections: {{ salt['pgsalt.pgbackrest_config'](cluster) | json }}
    - require:
      - pkg: pgbackrest-package-installed
{%- if holds_repository %}

pgbackrest-config-repository-directory:
  file.directory:
    - name: {{ pb.repository.path }}
    - user: postgres
    - group: postgres
    - mode: '0750'
    - require:
      - pkg: pgbackrest-package-installed
{%- endif %}
{%- if 'db' in cluster.my.roles %}

{#- PostgreSQL's archive_command (pgsalt.pgbackrest_patroni): pgBackRest's archive-push. #}
pgbackrest-config-archive-push:
  file.managed:
    - name: /usr/local/sbin/pgsalt-archive-push
    - source: salt://pgbackrest/files/pgsalt-archive-push
    - mode: '0755'

pgbackrest-config-spool-directory:
  file.directory:
    - name: {{ pb.spool_path }}
    - user: postgres
    - group: postgres
    - mode: '0750'
    - require:
      - pkg: pgbackrest-package-installed
{%- endif %}
