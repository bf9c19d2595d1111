{%- from 'pgsalt/map.jinja' import cluster with context %}
include:
  - postgresql.createcluster

postgresql-package-common-installed:
  pkg.installed:
    - name: postgresql-common
    - install_recommends: False
    - require:
      - file: postgresql-package-no-default-cluster

postgresql-package-server-installed:
  pkg.installed:
    - pkgs: {{ cluster.postgresql.packages | json }}
    - install_recommends: False
    - require:
      - pkg: postgresql-package-common-installed
