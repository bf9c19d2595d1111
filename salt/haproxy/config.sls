{%- from 'pgsalt/map.jinja' import cluster with context %}
include:
  - haproxy.package

haproxy-config-file:
  file.managed:
    - name: /etc/haproxy/haproxy.cfg
    - source: salt://haproxy/files/haproxy.cfg.jinja
    - template: jinja
    - mode: '0640'
    - group: haproxy
    - context:
        haproxy: {{ cluster.haproxy | json }}
        address: {{ cluster.my.address }}
        servers: {{ salt['pgsalt.haproxy_backends'](cluster) | json }}
    - check_cmd: haproxy -c -q -f
    - require:
      - pkg: haproxy-package-installed
