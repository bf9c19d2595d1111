{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set keepalived = salt['pgsalt.keepalived_config'](cluster) %}
include:
  - keepalived.package
{%- for kind, path in keepalived.scripts | dictsort %}

{#- enable_script_security: keepalived runs only scripts that no one but root can change. #}
keepalived-config-{{ kind }}-script:
  file.managed:
    - name: {{ path }}
    - source: salt://keepalived/files/{{ path.split('/') | last }}
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - pkg: keepalived-package-installed
{%- endfor %}

{#- The file carries the VRRP password: root's alone, never shown in diffs. keepalived -t
    also refuses an interface the host lacks and scripts it would not run. #}
keepalived-config-file:
  file.managed:
    - name: /etc/keepalived/keepalived.conf
    - source: salt://keepalived/files/keepalived.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0640'
    - show_changes: False
    - context:
        keepalived: {{ keepalived | json }}
    - check_cmd: keepalived -t -f
    - require:
{%- for kind in keepalived.scripts | sort %}
      - file: keepalived-config-{{ kind }}-script
{%- endfor %}
