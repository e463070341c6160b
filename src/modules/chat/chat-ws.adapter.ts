import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import type { ServerOptions, VerifyClientCallbackAsync, WebSocket } from 'ws';
import { SETTINGS, type Settings } from '../../config/settings';
import { TokenService } from '../../common/auth/token.service';
import { ChatGateway } from './chat.gateway';
import { checkUpgrade } from './ws-upgrade';

// @nestjs/platform-ws with two changes: the upgrade is authenticated by `verifyClient` (Nest guards
// do not run on connect, nestjs/nest#882), and the gateway reads frames itself, once, instead of
// the adapter's rxjs pipeline and per-message JSON routing.
export class ChatWsAdapter extends WsAdapter {
  private readonly tokens: TokenService;
  private readonly settings: Settings;

  constructor(private readonly app: INestApplicationContext) {
    super(app);
    this.tokens = app.get(TokenService);
    this.settings = app.get<Settings>(SETTINGS);
  }

  override create(port: number, options: ServerOptions & { path?: string } = {}) {
    const verifyClient: VerifyClientCallbackAsync = (info, done) => {
      if (this.app.get(ChatGateway).draining) return done(false, 503, 'Shutting down');
      const verdict = checkUpgrade(info.req, this.tokens, this.settings.allowedOrigins);
      if (verdict.ok) done(true);
      else done(false, verdict.status, verdict.reason);
    };
    // room for the largest allowed message in UTF-8 plus the envelope
    const maxPayload = Math.max(this.settings.maxPayloadBytes, this.settings.maxMessageLength * 4 + 4096);
    return super.create(port, { ...options, verifyClient, maxPayload, perMessageDeflate: false });
  }

  override bindMessageHandlers(
    _client: WebSocket,
    _handlers: MessageMappingProperties[],
    _transform: (data: unknown) => Observable<unknown>,
  ): void {
    // frames are read by ChatGateway.handleConnection
  }
}
