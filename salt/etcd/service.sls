{%- from 'pgsalt/map.jinja' import cluster with context %}
include:
  - etcd.config

{#- Debian's unit does not restart etcd that failed at boot (its address may not exist
    yet); a cluster left with one member never fails over. #}
etcd-service-restart-policy:
  file.managed:
    - name: /etc/systemd/system/{{ cluster.etcd.service }}.service.d/pgsalt.conf
    - makedirs: True
    - contents: |
        # Managed by Salt (pgsalt).
        [Service]
        EnvironmentFile=-/etc/default/etcd-initial-state
        Restart=always
        RestartSec=1

etcd-service-running:
  service.running:
    - name: {{ cluster.etcd.service }}
    - enable: True
    - watch:
      - file: etcd-config-environment
      - file: etcd-service-restart-policy
    - require:
      - pgsalt_etcd: etcd-config-initial-state
