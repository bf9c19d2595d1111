{%- from 'pgsalt/map.jinja' import cluster with context %}

postgresql-package-common-installed:
  pkg.installed:
    - name: postgresql-common
    - install_recommends: False

{#- Patroni owns initdb: the server packages must not create a default cluster. #}
postgresql-package-no-default-cluster:
  file.replace:
    - name: /etc/postgresql-common/createcluster.conf
    - pattern: '^#?\s*create_main_cluster\s*=.*$'
    - repl: 'create_main_cluster = false'
    - append_if_not_found: True
    - require:
      - pkg: postgresql-package-common-installed

postgresql-package-server-installed:
  pkg.installed:
    - pkgs: {{ cluster.postgresql.packages | json }}
    - install_recommends: False
    - require:
      - file: postgresql-package-no-default-cluster
