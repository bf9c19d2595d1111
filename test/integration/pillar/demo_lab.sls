{#- Test Kitchen: the demo cluster of pillar/pgsalt/demo.sls on one host.
    kitchen.yml copies the bed's demo.sls to kitchen/demo.sls and this file in its place
    (pgsalt/demo.sls), so pillar/top.sls stays the bed's own. Everything the demo sets is
    kept except what one container cannot have: more members (the repository host's
    place is taken by a posix repository on the container's own disk), the bed's network,
    and the virtual IP (it needs two balancers). Without a Salt master there is no cluster
    CA to sign host certificates, so TLS is off, which insecure_lab allows.
    The container's minion id is pg1 (kitchen.yml: salt_minion_id). -#}
{%- import_yaml 'kitchen/demo.sls' as bed %}
{%- set demo = bed.pgsalt.clusters.demo %}
pgsalt:
  clusters:
    demo:
{%- for key, value in demo | dictsort if key not in ('lab', 'network', 'members', 'pgbackrest', 'vip', 'tls', 'insecure_lab') %}
      {{ key }}: {{ value | json }}
{%- endfor %}
      # One etcd member is allowed only with lab: true.
      lab: true
      insecure_lab: true
      tls: {enabled: false}
      # The container's address is Docker's, not the bed's 10.77.0.0/24.
      network: null
      members:
        pg1: {roles: [dcs, db, balancer]}
      pgbackrest: {{ dict(demo.pgbackrest, repository={'type': 'posix'}) | json }}
