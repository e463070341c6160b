import { useEffect, useState } from 'preact/hooks';
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
  const [tab, setTab] = useState<'ai' | 'rooms'>('ai');
  const rooms = useRoomsModule(client, tab === 'rooms');
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
        {tab === 'ai' && (
          <button
            type="button"
            class="icon-button"
            onClick={() => setScreen('sessions')}
            title="Conversations"
          >
            <Icon name="list" />
            <span class="sr">Conversations</span>
          </button>
        )}
        <div class="title">
          <h1>{tab === 'rooms' ? 'Rooms' : view.sessionName}</h1>
          <StatusBar
            link={view.link}
            pending={client.socket.pendingCount}
            onRetry={() => client.socket.reconnectNow()}
          />
        </div>
        {tab === 'ai' && (
          <>
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
          </>
        )}
      </header>
      <ModeTabs tab={tab} onChange={setTab} roomsUnread={rooms.unread} />
      {view.notice && (
        <div class="notice" role="alert" data-code={view.notice.code}>
          <span>{view.notice.text}</span>
          <button type="button" class="icon-button" onClick={() => client.dismissNotice()} title="Dismiss">
            <Icon name="close" />
            <span class="sr">Dismiss</span>
          </button>
        </div>
      )}
      {tab === 'rooms' ? (
        <RoomsScreen client={client} module={rooms.module} failed={rooms.failed} />
      ) : screen === 'sessions' ? (
        <SessionList
          token={view.token}
          currentId={view.sessionId}
          owed={client.owedSessions}
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
              maxLength: view.maxLength,
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

// "AI chat" | "Rooms": a tab list (arrow keys move between the tabs).
function ModeTabs({
  tab,
  onChange,
  roomsUnread,
}: {
  tab: 'ai' | 'rooms';
  onChange(tab: 'ai' | 'rooms'): void;
  roomsUnread: number;
}) {
  const tabs = [
    { id: 'ai', label: 'AI chat' },
    { id: 'rooms', label: 'Rooms' },
  ] as const;
  return (
    <div
      class="tabs"
      role="tablist"
      aria-label="Chat mode"
      onKeyDown={(event) => {
        if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
        const next = tab === 'ai' ? 'rooms' : 'ai';
        onChange(next);
        document.getElementById(`tab-${next}`)?.focus();
      }}
    >
      {tabs.map((entry) => (
        <button
          key={entry.id}
          id={`tab-${entry.id}`}
          type="button"
          role="tab"
          aria-selected={tab === entry.id}
          aria-controls={entry.id === 'rooms' && tab === 'rooms' ? 'panel-rooms' : undefined}
          tabIndex={tab === entry.id ? 0 : -1}
          onClick={() => onChange(entry.id)}
        >
          {entry.label}
          {entry.id === 'rooms' && roomsUnread > 0 && (
            <span class="badge unread" data-testid="rooms-unread">
              {roomsUnread}
              <span class="sr"> unread</span>
            </span>
          )}
        </button>
      ))}
    </div>
  );
}

type RoomsModule = typeof import('./rooms/rooms-view');

// The rooms view is its own chunk, fetched the first time the tab opens (the first load of the chat
// stays small); from then on its unread total shows on the tab.
function useRoomsModule(client: ChatClient, wanted: boolean) {
  const [module, setModule] = useState<RoomsModule | null>(null);
  const [failed, setFailed] = useState(false);
  const [unread, setUnread] = useState(0);
  useEffect(() => {
    if (wanted && !module) import('./rooms/rooms-view').then(setModule, () => setFailed(true));
  }, [wanted, module]);
  useEffect(() => {
    if (!module) return;
    const rooms = module.roomsClientFor(client);
    const update = () => setUnread(rooms.unreadTotal());
    update();
    return rooms.subscribe(update);
  }, [module, client]);
  return { module, failed, unread };
}

function RoomsScreen({
  client,
  module,
  failed,
}: {
  client: ChatClient;
  module: RoomsModule | null;
  failed: boolean;
}) {
  if (!module)
    return (
      <p class="empty" role="status">
        {failed ? 'Rooms could not be loaded. Please reload.' : 'Loading rooms…'}
      </p>
    );
  return <module.RoomsView chat={client} />;
}
