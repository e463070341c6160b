import { render } from 'preact';
import { App } from './app';
import { ChatClient } from './chat-client';
import { tokenFromLocation } from './token-bridge';
import './chat.css';

const client = new ChatClient(tokenFromLocation(window.location));
render(<App client={client} />, document.getElementById('app') as HTMLElement);
client.start();
