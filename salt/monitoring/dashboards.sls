{#- Grafana dashboards for an existing Grafana (Debian ships none): the JSON files and a
    provisioning file that points Grafana at them. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set m = cluster.monitoring %}

monitoring-dashboards-files:
  file.recurse:
    - name: {{ m.dashboards_dir }}
    - source: salt://monitoring/files/dashboards
    - include_pat: '*.json'
    - file_mode: '0644'
    - dir_mode: '0755'
    - makedirs: True
    - clean: True

monitoring-dashboards-provisioning:
  file.managed:
    - name: {{ m.provisioning_dir }}/pgsalt.yaml
    - source: salt://monitoring/files/grafana-dashboards.yaml
    - template: jinja
    - makedirs: True
    - mode: '0644'
    - context:
        dashboards_dir: {{ m.dashboards_dir }}
