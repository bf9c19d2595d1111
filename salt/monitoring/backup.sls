{#- The age and size of the last full, diff and incr pgBackRest backups and the PITR window,
    as node_exporter textfile metrics, refreshed every 5 minutes on every db host. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set output = salt['pgsalt_monitoring.textfile']('pgsalt_backup') %}
{%- set textfile_dir = output.rsplit('/', 1)[0] %}
include:
  - monitoring.exporters

monitoring-backup-textfile-directory:
  file.directory:
    - name: {{ textfile_dir }}
    - makedirs: True
    - require:
      - pgsalt: monitoring-exporters-prometheus-node-exporter-installed

monitoring-backup-script:
  file.managed:
    - name: /usr/local/sbin/pgsalt-backup-metrics
    - source: salt://monitoring/files/pgsalt-backup-metrics
    - mode: '0755'

monitoring-backup-units:
  file.managed:
    - names:
      - /etc/systemd/system/pgsalt-backup-metrics.service:
        - contents: |
            # Managed by Salt (pgsalt).
            [Unit]
            Description=pgBackRest backup metrics for node_exporter (pgsalt)
            [Service]
            Type=oneshot
            ExecStart=/usr/local/sbin/pgsalt-backup-metrics {{ cluster.scope }} {{ output }}
      - /etc/systemd/system/pgsalt-backup-metrics.timer:
        - contents: |
            # Managed by Salt (pgsalt).
            [Unit]
            Description=pgBackRest backup metrics every 5 minutes (pgsalt)
            [Timer]
            OnActiveSec=5s
            OnUnitActiveSec=5min
            [Install]
            WantedBy=timers.target
    - require:
      - file: monitoring-backup-script
      - file: monitoring-backup-textfile-directory

monitoring-backup-timer-running:
  service.running:
    - name: pgsalt-backup-metrics.timer
    - enable: True
    - watch:
      - file: monitoring-backup-units
