{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set patroni = cluster.patroni %}
{%- set bin = '/usr/bin' if patroni.source == 'package' else patroni.venv.path ~ '/bin' %}
include:
  - postgresql.package
  - patroni.package
  - pgsalt.tls

patroni-config-directory:
  file.directory:
    - name: {{ patroni.config_dir }}
    - user: postgres
    - group: postgres
    - mode: '0750'
    - require:
      - pkg: postgresql-package-server-installed

patroni-config-validator:
  file.managed:
    - name: /usr/local/sbin/pgsalt-patroni-validate
    - source: salt://patroni/files/pgsalt-patroni-validate
    - mode: '0755'

{#- The file carries passwords: never shown in diffs, readable by postgres alone. #}
patroni-config-file:
  file.managed:
    - name: {{ patroni.config_dir }}/config.yml
    - source: salt://patroni/files/config.yml.jinja
    - template: jinja
    - user: postgres
    - group: postgres
    - mode: '0600'
    - show_changes: False
    - context:
        {#- orch.restore passes its checked request for the member it restores on. #}
        config: {{ salt['pgsalt.patroni_config'](cluster, pillar.get('restore')) | json }}
    - check_cmd: /usr/local/sbin/pgsalt-patroni-validate {{ bin }}/patroni
    - require:
      - file: patroni-config-validator
      - file: patroni-config-directory
      - patroni-package-installed
      - file: pgsalt-tls-cert
      - file: pgsalt-tls-etcd-cert

patroni-config-unit:
  file.managed:
    - name: /etc/systemd/system/patroni.service
    - source: salt://patroni/files/patroni.service.jinja
    - template: jinja
    - context:
        scope: {{ cluster.scope }}
        bin: {{ bin }}
        config: {{ patroni.config_dir }}/config.yml

{%- if salt['service.status']('patroni') %}

{#- A member that runs already reloads a changed config here (Patroni reloads PostgreSQL):
    orch.deploy writes the file in a run before the one that starts Patroni, where a watch
    would no longer see the change. #}
patroni-config-reloaded:
  cmd.run:
    - name: systemctl reload patroni
    - onchanges:
      - file: patroni-config-file
{%- endif %}
