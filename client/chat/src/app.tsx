import { useState } from 'preact/hooks';
import type { ChatClient } from './chat-client';
import { Composer } from './components/composer';
import { CsatPrompt } from './components/csat-prompt';
import { Icon } from './components/icons';
import { MessageList } from './components/message-list';
import { SessionList } from './components/session-list';
import { StatusBar } from './components/status-bar';
import { useChatView } from './use-client';

export function App({ client }: { client: ChatClient }) {
  const view = useChatView(client);
  const [screen, setScreen] = useState<'chat' | 'sessions'>('chat');
  const generating = view.loading || view.messages.some((message) => message.streaming);

  if (!view.token)
    return (
      <main class="app waiting">
        <p class="empty" role="status">
          Waiting for sign-in…
        </p>
      </main>
    );

  return (
    <main class="app">
      <header class="top">
        <button type="button" class="icon-button" onClick={() => setScreen('sessions')} title="Conversations">
          <Icon name="list" />
          <span class="sr">Conversations</span>
        </button>
        <div class="title">
          <h1>{view.sessionName}</h1>
          <StatusBar
            link={view.link}
            pending={client.socket.pendingCount}
            onRetry={() => client.socket.reconnectNow()}
          />
        </div>
        {view.assistingAdmin ? (
          <span class="assisted" data-testid="assisted-by">
            Assisted by {view.assistingAdmin}
          </span>
        ) : (
          view.models.length > 1 && (
            <select
              class="model"
              aria-label="Model"
              value={view.modelId}
              onChange={(event) => client.selectModel((event.currentTarget as HTMLSelectElement).value)}
            >
              {view.models.map((model) => (
                <option key={model.id} value={model.id}>
                  {model.name}
                </option>
              ))}
            </select>
          )
        )}
        <button
          type="button"
          class="icon-button"
          onClick={() => client.requestHelp()}
          disabled={view.helpRequested || !!view.assistingAdmin || view.link.kind !== 'connected'}
          title={view.helpRequested ? 'Help requested' : 'Ask a person for help'}
        >
          <Icon name="help" />
          <span class="sr">{view.helpRequested ? 'Help requested' : 'Ask a person for help'}</span>
        </button>
      </header>
      {view.notice && (
        <div class="notice" role="alert" data-code={view.notice.code}>
          <span>{view.notice.text}</span>
          <button type="button" class="icon-button" onClick={() => client.dismissNotice()} title="Dismiss">
            <Icon name="close" />
            <span class="sr">Dismiss</span>
          </button>
        </div>
      )}
      {screen === 'sessions' ? (
        <SessionList
          token={view.token}
          currentId={view.sessionId}
          onBack={() => setScreen('chat')}
          onOpen={(id, seq) => {
            client.openSession(id, seq);
            setScreen('chat');
          }}
          onNew={() => {
            client.newChat();
            setScreen('chat');
          }}
        />
      ) : (
        <>
          <MessageList
            messages={view.messages}
            loading={view.loading}
            adminTyping={view.adminTyping}
            assistingAdmin={view.assistingAdmin}
            token={view.token}
            focusSeq={view.focusSeq}
            onRetry={(message) => client.retry(message)}
            actions={{
              regenerate: () => client.regenerate(),
              selectReply: (id) => client.selectReply(id),
              edit: (message, text) => client.edit(message, text),
              feedback: (message, rating) => client.feedback(message, rating),
            }}
          />
          {view.csat && (
            <CsatPrompt
              adminName={view.csat.adminName}
              onRate={(rating, comment) => client.rateTakeover(rating, comment)}
              onDismiss={() => client.dismissCsat()}
            />
          )}
          <Composer
            maxLength={view.maxLength}
            generating={generating && !view.assistingAdmin}
            disabled={view.link.kind === 'signed_out'}
            upload={view.upload}
            onSend={(text) => client.sendText(text)}
            onStop={() => client.stop()}
            onFile={(file, caption) => void client.sendFile(file, 'file_upload', caption)}
            onVoice={(file) => void client.sendFile(file, 'voice_message')}
            onTyping={(typing) => client.typing(typing)}
          />
        </>
      )}
    </main>
  );
}
