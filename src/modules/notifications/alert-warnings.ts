import type { Settings } from '../../config/settings';

export interface BootWarning {
  event: string;
  message: string;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '0.0.0.0']);

// What an operator should hear at boot about alerts that would not reach anyone useful
// (docs/protocol.md, "Alert limits and digests").
export function alertBootWarnings(settings: Settings): BootWarning[] {
  const { mail, sms, rules } = settings.notifications;
  const warnings: BootWarning[] = [];
  const reaches = rules.help_request.some((channel) =>
    channel === 'email' ? Boolean(mail) : channel === 'sms' ? Boolean(sms) : false,
  );
  if (!reaches)
    warnings.push({
      event: 'help_alerts_log_only',
      message:
        'help requests reach no admin by email or SMS, only the log: set SMTP_URL or TWILIO_ACCOUNT_SID, and ALERT_RULES help_request to their channels',
    });
  if ((mail || sms) && isLocal(settings.publicBaseUrl))
    warnings.push({
      event: 'alert_links_localhost',
      message: `alert links point at ${settings.publicBaseUrl}, which admins cannot open from their phones or mail: set PUBLIC_BASE_URL`,
    });
  return warnings;
}

function isLocal(url: string): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return LOCAL_HOSTS.has(host) || host.endsWith('.localhost') || host.startsWith('127.');
  } catch {
    return false;
  }
}
