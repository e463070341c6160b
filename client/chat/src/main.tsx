import { render } from 'preact';
import { App } from './app';
import { ChatClient } from './chat-client';
import { takeTokenFromLocation } from './token-bridge';
import './chat.css';

const client = new ChatClient(takeTokenFromLocation(window));
render(<App client={client} />, document.getElementById('app') as HTMLElement);
client.start();
