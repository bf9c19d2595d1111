include:
  - keepalived.config

{#- A keepalived that dies (its VRRP process drops the VIP with it) would leave this host
    out of every election; systemd starts it again, as BACKUP. #}
keepalived-service-restart-on-failure:
  file.managed:
    - name: /etc/systemd/system/keepalived.service.d/pgsalt.conf
    - makedirs: True
    - contents: |
        [Service]
        Restart=on-failure
        RestartSec=1

{#- A reload (SIGHUP) keeps the instance's state: a config change does not move the VIP. #}
keepalived-service-running:
  service.running:
    - name: keepalived
    - enable: True
    - reload: True
    - watch:
      - file: keepalived-config-file
      - file: keepalived-service-restart-on-failure
