include:
  - haproxy.config

haproxy-service-running:
  service.running:
    - name: haproxy
    - enable: True
    - reload: True
    - watch:
      - file: haproxy-config-file
