// hyper2kvm's own example daemon config (examples/yaml/50-daemon/daemon-enhanced.yaml): its keys
// and values, with the directories under `dir` (default: hyper2kvm's /var/lib/hyper2kvm layout).
export function hyper2kvmExample(dir?: string): string {
  const watch = dir ? `${dir}/queue` : '/var/lib/hyper2kvm/queue';
  const output = dir ? `${dir}/output` : '/var/lib/hyper2kvm/output';
  const work = dir ? `${dir}/work` : '/var/lib/hyper2kvm/work';
  const log = dir ? `${dir}/daemon.log` : '/var/log/hyper2kvm/daemon.log';
  return `command: daemon
daemon: true
watch_dir: ${watch}
output_dir: ${output}
workdir: ${work}
max_concurrent_jobs: 3
file_stable_timeout: 30
retry_policy:
  enabled: true
  max_retries: 3
  retry_delay: 300
  backoff_multiplier: 2.0
notifications:
  enabled: true
  on_success: false
  on_failure: true
  on_stalled: true
  webhook_url: "https://hooks.slack.com/services/YOUR/WEBHOOK/URL"
  webhook_type: "slack"
  email_enabled: false
  email_smtp_host: "smtp.gmail.com"
  email_smtp_port: 587
  email_from: "hyper2kvm@example.com"
  email_to: "admin@example.com"
  email_username: "hyper2kvm@example.com"
  email_password: "app-specific-password"
enable_deduplication: true
deduplication_use_md5: false
archive_processed: true
flatten: true
out_format: qcow2
compress: true
compress_level: 6
enable_recovery: true
fstab_mode: stabilize-all
regen_initramfs: true
update_grub: true
win_virtio: true
win_hyperv: true
log_file: ${log}
verbose: 2
emit_domain_xml: true
vm_memory: 4096
vm_vcpus: 2
vm_uefi: false
`;
}
