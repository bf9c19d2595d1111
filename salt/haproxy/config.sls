{%- from 'pgsalt/map.jinja' import cluster with context %}
include:
  - haproxy.package
  - pgsalt.tls

haproxy-config-file:
  file.managed:
    - name: /etc/haproxy/haproxy.cfg
    - source: salt://haproxy/files/haproxy.cfg.jinja
    - template: jinja
    - mode: '0640'
    - group: haproxy
    {#- The stats password is in it. #}
    - show_changes: False
    - context:
        haproxy: {{ cluster.haproxy | json }}
        address: {{ cluster.my.address }}
        servers: {{ salt['pgsalt.haproxy_backends'](cluster) | json }}
        tls: {{ salt['pgsalt.service_tls'](cluster) | json }}
        stats_user: {{ cluster.users.haproxy_stats | json }}
        metrics_port: {{ (cluster.monitoring.ports.haproxy if cluster.monitor_members else None) | json }}
    - check_cmd: haproxy -c -q -f
    - require:
      - pkg: haproxy-package-installed
      - file: pgsalt-tls-ca
