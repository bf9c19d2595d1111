{#- Prometheus and Alertmanager on the monitor host, from Debian's packages: the scrape
    config from pillar and the mine (a host added to pillar is scraped after this host's
    next highstate), the alert rules with pillar's thresholds; promtool and amtool check
    every file before Prometheus or Alertmanager reload. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set m = cluster.monitoring %}
{%- set tls = salt['pgsalt.service_tls'](cluster) %}
include:
  - pgsalt.tls

{#- Debian starts both on install on every interface; the first start uses ours. #}
monitoring-server-alertmanager-installed:
  pgsalt.installed_unstarted:
    - pkgs: [prometheus-alertmanager]
    - service: prometheus-alertmanager

monitoring-server-packages-installed:
  pgsalt.installed_unstarted:
    - pkgs: [prometheus]
    - service: prometheus
    - require:
      - pgsalt: monitoring-server-alertmanager-installed

monitoring-server-prometheus-arguments:
  file.managed:
    - name: /etc/default/prometheus
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgsalt).
        ARGS="--web.listen-address={{ salt['pgsalt_monitoring.listen'](cluster, 'prometheus') }} --storage.tsdb.retention.time={{ m.retention }}"
    - require:
      - pgsalt: monitoring-server-packages-installed

monitoring-server-alertmanager-arguments:
  file.managed:
    - name: /etc/default/prometheus-alertmanager
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgsalt). One Alertmanager: no gossip listener.
        ARGS="--web.listen-address={{ salt['pgsalt_monitoring.listen'](cluster, 'alertmanager') }} --cluster.listen-address="
    - require:
      - pgsalt: monitoring-server-packages-installed

monitoring-server-rules:
  file.managed:
    - name: /etc/prometheus/rules/pgsalt.yml
    - makedirs: True
    - mode: '0644'
    - contents: {{ salt['pgsalt_monitoring.rules'](cluster) | yaml(False) | json }}
    - check_cmd: promtool check rules
    - require:
      - pgsalt: monitoring-server-packages-installed

monitoring-server-prometheus-config:
  file.managed:
    - name: /etc/prometheus/prometheus.yml
    - mode: '0644'
    - contents: {{ salt['pgsalt_monitoring.prometheus_config'](cluster, tls.ca if tls else None) | yaml(False) | json }}
    - check_cmd: promtool check config
    - require:
      - file: monitoring-server-rules
{%- if tls %}
      - file: pgsalt-tls-ca
{%- endif %}

monitoring-server-alertmanager-config:
  file.managed:
    - name: /etc/prometheus/alertmanager.yml
    {#- A webhook URL often carries a token. #}
    - mode: '0640'
    - group: prometheus
    - show_changes: False
    - contents: {{ salt['pgsalt_monitoring.alertmanager_config'](cluster) | yaml(False) | json }}
    - check_cmd: amtool check-config
    - require:
      - pgsalt: monitoring-server-packages-installed

monitoring-server-prometheus-running:
  service.running:
    - name: prometheus
    - enable: True
    - watch:
      - file: monitoring-server-prometheus-arguments

{#- A new config or rule file is a reload (SIGHUP), not a restart: the TSDB stays open. #}
monitoring-server-prometheus-reloaded:
  service.running:
    - name: prometheus
    - reload: True
    - watch:
      - file: monitoring-server-prometheus-config
      - file: monitoring-server-rules
    - require:
      - service: monitoring-server-prometheus-running

monitoring-server-alertmanager-running:
  service.running:
    - name: prometheus-alertmanager
    - enable: True
    - watch:
      - file: monitoring-server-alertmanager-arguments
      - file: monitoring-server-alertmanager-config
