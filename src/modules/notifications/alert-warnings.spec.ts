import { loadNotificationSettings } from '../../config/notifications.settings';
import type { Settings } from '../../config/settings';
import { alertBootWarnings } from './alert-warnings';

const MAIL = { SMTP_URL: 'smtp://mail.example.com:587', ADMIN_EMAILS: 'oncall@example.com' };
const SMS = {
  TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
  TWILIO_AUTH_TOKEN: 'token',
  TWILIO_FROM: '+15550001111',
  ADMIN_PHONES: '+15550002222',
};

function settings(env: Record<string, string>, publicBaseUrl = 'https://chat.example.com'): Settings {
  return { publicBaseUrl, notifications: loadNotificationSettings(env) } as Settings;
}

const events = (value: Settings) => alertBootWarnings(value).map((warning) => warning.event);

describe('alertBootWarnings', () => {
  it('should warn when help requests reach no admin by email or SMS', () => {
    expect(events(settings({}))).toEqual(['help_alerts_log_only']);
    expect(events(settings({ ...MAIL, ALERT_RULES: 'help_request:sms,log' }))).toEqual([
      'help_alerts_log_only',
    ]);
    expect(events(settings({ ...SMS, ALERT_RULES: 'help_request:email' }))).toEqual(['help_alerts_log_only']);
    expect(events(settings(MAIL))).toEqual([]);
    expect(events(settings({ ...SMS, ALERT_RULES: 'help_request:sms' }))).toEqual([]);
  });

  it('should warn when alert links point at this machine while email or SMS is set', () => {
    for (const base of [
      'http://localhost:3000',
      'http://127.0.0.1:8080',
      'http://[::1]:3000',
      'http://chat.localhost',
    ])
      for (const env of [MAIL, SMS]) expect(events(settings(env, base))).toEqual(['alert_links_localhost']);
    // only the log reads them: nobody opens a link from another machine
    expect(events(settings({}, 'http://localhost:3000'))).toEqual(['help_alerts_log_only']);
    expect(events(settings(MAIL, 'https://localhost.example.com'))).toEqual([]);
  });

  it('should say in the message what to set', () => {
    const [links] = alertBootWarnings(settings(MAIL, 'http://localhost:3000'));
    expect(links.message).toContain('PUBLIC_BASE_URL');
    const [channels] = alertBootWarnings(settings({}));
    expect(channels.message).toMatch(/SMTP_URL|TWILIO_ACCOUNT_SID/);
  });
});
