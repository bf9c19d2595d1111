{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set etcd = cluster.etcd %}
{%- set peer_url = 'http://%s:%s' % (cluster.my.address, etcd.peer_port) %}
include:
  - etcd.package

{#- A member that joins a running etcd cluster is added before its etcd first starts. #}
etcd-config-member-present:
  pgsalt_etcd.member_present:
    - name: {{ cluster.me }}
    - peer_urls: [{{ peer_url }}]
    - endpoints: {{ cluster.etcd_endpoints | json }}
    {#- A rebuilt host (no data) replaces its old entry; one with data keeps it. #}
    - replace: True
    - data_dir: {{ etcd.data_dir }}
    - require:
      - pgsalt: etcd-package-installed

etcd-config-initial-state:
  pgsalt_etcd.initial_state_file:
    - name: /etc/default/etcd-initial-state
    - member: {{ cluster.me }}
    - endpoints: {{ cluster.etcd_endpoints | json }}
    - data_dir: {{ etcd.data_dir }}
    - require:
      - pgsalt_etcd: etcd-config-member-present

etcd-config-environment:
  file.managed:
    - name: /etc/default/{{ etcd.service }}
    - source: salt://etcd/files/etcd.env.jinja
    - template: jinja
    - mode: '0644'
    - context:
        environment: {{ salt['pgsalt.etcd_environment'](cluster) | json }}
    - require:
      - pgsalt: etcd-package-installed
