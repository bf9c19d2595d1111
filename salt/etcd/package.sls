{%- from 'pgsalt/map.jinja' import cluster with context %}

etcd-package-installed:
  pgsalt.installed_unstarted:
    - pkgs: [{{ cluster.etcd.package }}]
    - service: {{ cluster.etcd.service }}
