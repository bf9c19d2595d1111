{#- etcd's own users and roles: each cluster on this etcd logs its Patroni in with a role
    limited to its keys; the dcs hosts are admins through their certificates. Before any
    Patroni starts on a new cluster (orch.deploy's prepare step runs it after etcd). #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set tls = salt['pgsalt.service_tls'](cluster) %}
include:
  - etcd.service
{%- if cluster.etcd_logins %}

etcd-auth-users-and-roles:
  pgsalt_etcd.auth_present:
    - name: etcd-auth
    - logins: {{ cluster.etcd_logins | json }}
    - admins: {{ cluster.dcs_members | json }}
    - endpoints: {{ cluster.etcd_endpoints | json }}
    - ca_cert: {{ tls.ca }}
    - cert_cert: {{ tls.cert }}
    - cert_key: {{ tls.key }}
    - require:
      - service: etcd-service-running
{%- endif %}
